// The page's first script, in its head: opens the WebSocket to the node's relay while the rest of the page (the
// app's script, the channels and posts it carries) is still arriving, so that the handshake's round trip (2 s on
// "Slow 3G") overlaps the download instead of following the app's start. The app's Relay (relay.js) takes this
// socket over, counted from then on like any (datause.js); nothing is sent on it before then. Not opened when the
// month's data cap is reached (datause.js keeps it in localStorage). Its own hash in the page's policy (build.mjs).
try {
  const use = JSON.parse(localStorage.getItem('data-use') || 'null');
  const capped = use && use.cap > 0 && use.month === new Date().toISOString().slice(0, 7) && use.bytes >= use.cap * 1e6;
  if (!capped) self.samizdatSocket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
} catch {
  /* the app connects itself */
}
