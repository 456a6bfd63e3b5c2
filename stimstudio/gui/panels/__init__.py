"""The pages and side panels of the main window."""
