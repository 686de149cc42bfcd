"""Delivery plumbing every service uses: settings, database, outbox, inbox, consumers, HTTP basics."""
