"""The weekly report and the monthly review pack: pure builders (CSV, markdown, maturity, chart data)."""
