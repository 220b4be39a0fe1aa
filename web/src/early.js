// The page's first script, in its head: opens the WebSocket to the node's relay while the rest of the page (the
// app's script, the channels and posts it carries) is still arriving, so that the handshake's round trip (2 s on
// "Slow 3G") overlaps the download instead of following the app's start. The app's Relay (relay.js) takes this
// socket over; nothing is sent on it before then. Its own hash in the page's Content-Security-Policy (build.mjs).
try {
  self.samizdatSocket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
} catch {
  /* the app connects itself */
}
