"""The panel's pages: home, administrator login, menus, settings, sending, job status, dialogs."""
