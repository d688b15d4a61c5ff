"""The desk's request handlers by concern: the storefront pages (storefront.py), the
shopper's socket (shopper.py), photos (media.py) and the agents' console API (console.py).
Routes are in desk/routes.py."""
