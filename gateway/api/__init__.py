"""HTTP routers: one thin module per noun."""
