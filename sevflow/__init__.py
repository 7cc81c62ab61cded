"""sevflow's core: domain models, policies, config and pure rules. No Temporal, no network."""
