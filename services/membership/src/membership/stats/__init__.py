"""A publication's numbers over time: members, MRR, new and churned members, trials, past-due."""
