"""The web layer's new pieces (issue 14's target `app/web/`): security headers, the offline API docs."""
