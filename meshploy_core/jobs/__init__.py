"""Cron jobs: a project's scheduled commands, their runs and the runs' logs."""
