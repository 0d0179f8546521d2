"""Notification channels: where events are delivered (Slack, Discord, email, webhooks)."""
