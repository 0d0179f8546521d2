"""Built-in notifiers: Slack, Discord, email over SMTP and the signed webhook."""
