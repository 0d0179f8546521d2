"""Services: long-running workloads of a project (their desired configuration and sealed
environment), and their logs."""
