"""The merchant dashboard on :3000 (app.py); its templates and assets are in dashboard/."""
