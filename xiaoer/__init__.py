"""xiaoer (店小二): plain-Python core shared by the Rasa glue, the actions and the desk.

Nothing in this package imports Rasa.
"""
