"""Small widgets the pages are built from: token area, settings form, status line, title bar, QR code."""
