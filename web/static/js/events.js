// The page's one event stream (server-sent events of the user's sites), shared by the page's
// scripts: consultations changing state, emergencies, cabins' statuses and, for those who may
// see them, the measurements stored. `whenConnected(fn)` runs fn each time the stream opens
// (at first and after a drop), for a script to catch up once on what it may have missed.
export const events = new EventSource("/api/v1/evenements");

const catchUps = [];
events.addEventListener("open", () => {
  for (const fn of catchUps) fn();
});

export function whenConnected(fn) {
  catchUps.push(fn);
  if (events.readyState === EventSource.OPEN) fn();
}

export function on(kind, handler) {
  events.addEventListener(kind, (e) => handler(JSON.parse(e.data)));
}
