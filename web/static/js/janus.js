// A small client of Janus's HTTP API (the SFU of consultations with more than two parties),
// for pages that join a consultation's VideoRoom with the grant the hub gave them: { url, room,
// pin, token }. One session, its long poll and keepalive; VideoRoom handles that send requests
// and wait for their event. No library: Janus's JSON over fetch. Candidates go inside the SDP
// (we wait for ICE gathering), as the cabin agent does.
const KEEPALIVE_MS = 25000;
const EVENT_TIMEOUT_MS = 20000;
const VIDEOROOM = "janus.plugin.videoroom";

function transaction() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

export class JanusError extends Error {
  constructor(code, reason) {
    super(`Janus ${code}: ${reason}`);
    this.code = code;
  }
}

export class JanusSession {
  constructor(grant) {
    this.grant = grant;
    this.handles = new Map(); // handle id → VideoRoomHandle
    this.waiting = new Map(); // transaction → resolve
    this.over = false;
    this.onended = () => {};
  }

  async post(url, body) {
    // text/plain keeps the request "simple" (no CORS preflight); Janus reads the JSON anyway.
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ transaction: transaction(), token: this.grant.token, ...body }),
    });
    const reply = await response.json();
    if (reply.janus === "error") throw new JanusError(reply.error.code, reply.error.reason);
    return reply;
  }

  async create() {
    const reply = await this.post(this.grant.url, { janus: "create" });
    this.url = `${this.grant.url.replace(/\/$/, "")}/${reply.data.id}`;
    this.poll();
    this.keepalive = setInterval(() => {
      this.post(this.url, { janus: "keepalive" }).catch(() => {});
    }, KEEPALIVE_MS);
  }

  async attach() {
    const reply = await this.post(this.url, { janus: "attach", plugin: VIDEOROOM });
    const handle = new VideoRoomHandle(this, reply.data.id);
    this.handles.set(reply.data.id, handle);
    return handle;
  }

  end(reason) {
    if (this.over) return;
    this.over = true;
    clearInterval(this.keepalive);
    this.onended(reason);
  }

  async poll() {
    while (!this.over) {
      let events;
      try {
        const response = await fetch(
          `${this.url}?maxev=10&token=${encodeURIComponent(this.grant.token)}&rid=${Date.now()}`,
        );
        if (response.status === 403) return this.end("refused");
        events = await response.json();
      } catch (e) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const event of Array.isArray(events) ? events : [events]) this.dispatch(event);
    }
  }

  dispatch(event) {
    if (event.janus === "keepalive") return;
    if (event.janus === "error" && !event.transaction) return this.end("gone");
    const data = event.plugindata?.data || {};
    if (data.videoroom === "destroyed") this.end("destroyed");
    const resolve = this.waiting.get(event.transaction);
    if (resolve && (event.janus === "event" || event.janus === "error")) {
      this.waiting.delete(event.transaction);
      resolve(event);
      return;
    }
    const handle = this.handles.get(event.sender);
    if (handle) handle.onevent(event, data);
  }

  async destroy() {
    if (!this.url) return;
    this.end("left");
    await this.post(this.url, { janus: "destroy" }).catch(() => {});
  }
}

export class VideoRoomHandle {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    this.onevent = () => {};
  }

  // Send a VideoRoom request; resolve with { data, jsep } once Janus answered it.
  async send(body, jsep) {
    const tx = transaction();
    const answered = new Promise((resolve, reject) => {
      this.session.waiting.set(tx, resolve);
      setTimeout(() => reject(new JanusError(0, "pas de réponse du serveur")), EVENT_TIMEOUT_MS);
    });
    const response = await fetch(`${this.session.url}/${this.id}`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({
        janus: "message", transaction: tx, token: this.session.grant.token, body, ...(jsep ? { jsep } : {}),
      }),
    });
    let reply = await response.json();
    if (reply.janus === "ack") reply = await answered;
    else this.session.waiting.delete(tx);
    if (reply.janus === "error") throw new JanusError(reply.error.code, reply.error.reason);
    const data = reply.plugindata?.data || {};
    if (data.error_code) throw new JanusError(data.error_code, data.error);
    return { data, jsep: reply.jsep };
  }
}

// Wait until the peer connection gathered its candidates (they go inside the SDP).
export function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // what we have by then
  });
}

// Enter the room as `display` (with publisher id `feed`, if given) without sending anything:
// the handle hears of the publishers; return { handle, publishers } — those already there.
export async function enter(session, { display, feed }) {
  const handle = await session.attach();
  const grant = session.grant;
  const { data: joined } = await handle.send({
    request: "join", ptype: "publisher", room: grant.room, pin: grant.pin, token: grant.token,
    display, ...(feed ? { id: feed } : {}),
  });
  return { handle, publishers: joined.publishers || [] };
}

// Publish `stream` into the room as `display` (with publisher id `feed`, if given); return
// { pc, handle, publishers } — the feeds already in the room.
export async function publish(session, stream, { display, feed }) {
  const { handle, publishers } = await enter(session, { display, feed });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const { jsep } = await handle.send(
    { request: "publish", audio: true, video: true },
    { type: "offer", sdp: pc.localDescription.sdp },
  );
  await pc.setRemoteDescription(jsep);
  return { pc, handle, publishers };
}

// Receive every stream of publisher `feed`: onTrack(track, description) for each.
export async function subscribe(session, feed, onTrack) {
  const handle = await session.attach();
  const grant = session.grant;
  const { data, jsep } = await handle.send({
    request: "join", ptype: "subscriber", room: grant.room, pin: grant.pin, token: grant.token,
    streams: [{ feed }],
  });
  const descriptions = {};
  for (const s of data.streams || []) descriptions[s.mid] = s.feed_description || s.type;
  const pc = new RTCPeerConnection();
  pc.addEventListener("track", (e) => onTrack(e.track, descriptions[e.transceiver.mid] || e.track.kind));
  await pc.setRemoteDescription(jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await handle.send({ request: "start" }, { type: "answer", sdp: pc.localDescription.sdp });
  return { pc, handle };
}
