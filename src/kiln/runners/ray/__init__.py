"""Ray compute: jobs run on a registered Ray cluster, submitted and watched through its Jobs API."""
