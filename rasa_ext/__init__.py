"""Rasa glue: NLU components, the store-filled NLG and the shopper channel.

Kept thin: the logic lives in the plain `xiaoer` package.
"""
