"""Realtime: WebSocket connections, channels, fan-out and countdown ticks."""
