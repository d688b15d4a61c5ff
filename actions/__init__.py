"""Custom actions: thin Rasa glue, one module per feature.

Business logic lives in `xiaoer` (store, text) and `shop` (orders); shopper
text lives in the domain responses, filled with values here.
"""
