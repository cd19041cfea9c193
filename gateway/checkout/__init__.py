"""The hosted checkout app on :3001 (app.py); its page and checkout.js are in checkout/."""
