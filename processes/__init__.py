"""PyWPS processes of the CANDELA-style server."""
