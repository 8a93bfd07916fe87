"""Operations: liveness and readiness, Prometheus metrics, alert rules and notifications,
and the system administrator's operations page (README, "Monitoring")."""
