"""Online serving: scoring replicas (data plane), and the endpoint controller and gateway (control plane)."""
