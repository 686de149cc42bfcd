"""The simulator: a seeded, realistic year of the network, and the ground truth it implies."""
