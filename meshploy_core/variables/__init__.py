"""Variable groups: named, sealed sets of environment variables shared by services and jobs."""
