"""Seed 003's chat: conversations, their messages, and the chat and admin servicers."""
