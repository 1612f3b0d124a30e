"""The SDK's resource operations (``Client().jobs`` …), each a thin REST client."""
