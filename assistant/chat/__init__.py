"""The chat in the browser: pages, conversations, the rendering of answers, and Server-Sent Events."""
