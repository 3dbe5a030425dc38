"""The delivery log in a browser (docs/design.md §4): server-rendered pages under /ui/.

access: who may look (HOOKWISE_UI_TOKEN sessions, loopback without one) and CSRF tokens;
graph: a run's nodes laid out for drawing; pages: what each page shows, read from the store;
routes: the routes. Templates autoescape everything; all assets are served from static/.
"""
