"""Code shared by the Parcours services: event contracts and delivery plumbing."""
