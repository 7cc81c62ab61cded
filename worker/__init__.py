"""The composition root: reads settings, builds clients and ports, registers workflows and activities."""
