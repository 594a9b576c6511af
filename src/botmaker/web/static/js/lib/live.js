// Live fleet status: Server-Sent Events from /api/events/stream (events status, resync,
// event, engine, channels), falling back to polling when the stream is not there or drops.

export function watchFleet({ onStatus, onResync, onEvent, onEngine, onChannels, onMode, pollEvery = 5000 }) {
  let source = null;
  let pollTimer = 0;
  let retryTimer = 0;
  let everOpened = false;
  let stopped = false;
  const mode = (m) => onMode && onMode(m);

  const startPolling = () => {
    if (pollTimer || stopped) return;
    pollTimer = window.setInterval(() => onResync(), pollEvery);
  };
  const stopPolling = () => {
    window.clearInterval(pollTimer);
    pollTimer = 0;
  };
  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };

  const connect = () => {
    if (stopped) return;
    source = new EventSource("/api/events/stream");
    source.addEventListener("open", () => {
      stopPolling();
      mode("live");
      if (everOpened) onResync(); // changes may have been missed while away
      everOpened = true;
    });
    source.addEventListener("status", (event) => {
      const data = parse(event);
      if (data && onStatus) onStatus(data);
    });
    source.addEventListener("resync", () => onResync());
    source.addEventListener("engine", (event) => {
      const data = parse(event);
      if (data && onEngine) onEngine(data);
    });
    source.addEventListener("event", (event) => {
      const data = parse(event);
      if (data && onEvent) onEvent(data);
    });
    source.addEventListener("channels", (event) => {
      const data = parse(event);
      if (data && onChannels) onChannels(data);
    });
    source.addEventListener("error", () => {
      startPolling();
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not there yet, or not logged in): poll, and try again later.
        mode("polling");
        source.close();
        window.clearTimeout(retryTimer);
        retryTimer = window.setTimeout(connect, 30_000);
      } else mode("reconnecting");
    });
  };

  connect();
  return {
    stop() {
      stopped = true;
      stopPolling();
      window.clearTimeout(retryTimer);
      if (source) source.close();
    },
  };
}

/** Call ``fn`` now and every ``ms``; stop when it returns false. Returns a stopper. */
export function every(ms, fn) {
  let timer = 0;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    let keepGoing = true;
    try {
      keepGoing = (await fn()) !== false;
    } catch {
      keepGoing = true;
    }
    if (keepGoing && !stopped) timer = window.setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
