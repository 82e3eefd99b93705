// The doctor's side of the live media: a WebRTC peer connection with the cabin (peer to peer;
// the hub only relays the offer and the answer). Room camera and otoscope side by side,
// stethoscope with its own volume, the doctor's camera and microphone sent to the room, live
// vitals on the "vitals" data channel. When the network drops, the page says so and, without
// anyone clicking, restarts the link (ICE restart) until it is back — retrying while the cabin
// is offline, and opening a new connection if the cabin closed its side meanwhile. The
// consultation is never ended by a network failure.
const RETRY_MS = 500; // the cabin is offline: offer again after this
const RESTART_WAIT_MS = 4000; // an ICE restart was answered: give its checks this long
const DISCONNECTED_GRACE_MS = 2000; // "disconnected": restart if still so after this
const STALL_MS = 3000; // nothing received for this long: the link is lost, whatever ICE says
const root = document.querySelector("[data-media]");

function attachCounter(video, label) {
  // One count per element, carried on across a new connection (the picture comes back).
  if (video.dataset.counting) return;
  video.dataset.counting = "1";
  const count = () => {
    const frames = Number(video.dataset.frames || 0) + 1;
    video.dataset.frames = String(frames);
    label.textContent = `${frames} images`;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
}

function drawPleth(canvas, samples) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#0b5cad";
  ctx.lineWidth = 2;
  ctx.beginPath();
  samples.forEach((v, i) => {
    const x = (i / Math.max(1, samples.length - 1)) * canvas.width;
    const y = canvas.height - v * canvas.height;
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

async function start(box) {
  const id = box.dataset.consultation;
  const link = box.querySelector('[data-field="link"]');
  const vitals = box.querySelector('[data-field="vitals"]');
  const pleth = box.querySelector("canvas.pleth");
  const plethSamples = [];
  const elements = {
    room: box.querySelector("video.room"),
    otoscope: box.querySelector("video.otoscope"),
    stethoscope: box.querySelector("audio.stethoscope"),
  };
  const labels = {};
  const received = {};
  const proto = window.location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${window.location.host}/ws/consultations/${id}/media`);
  let pc = null;
  let servers = [];
  let policy = "all";
  let own = null;
  let restarting = false; // an ICE-restart offer is waiting for the cabin's answer
  let pending = false; // an offer is waiting for the cabin's answer
  let retry = null;
  let stalled = false; // "connected", but no media arrives (a cut Chromium has not noticed)

  const lost = () => pc !== null && (stalled || ["disconnected", "failed"].includes(pc.connectionState));
  const later = (ms) => {
    clearTimeout(retry);
    retry = setTimeout(() => { if (lost() && !pending) negotiate(true); }, ms);
  };

  const show = (mid) => {
    const label = labels[mid];
    const track = received[mid];
    if (!label || !track || !elements[label]) return;
    const element = elements[label];
    if (element.srcObject) return;
    element.srcObject = new MediaStream([track]);
    element.play().catch(() => {});
    if (element.tagName === "VIDEO") attachCounter(element, box.querySelector(`[data-counter="${label}"]`));
    else element.dataset.playing = "1";
  };

  const negotiate = async (iceRestart) => {
    restarting = iceRestart;
    pending = true;
    if (iceRestart) box.dataset.restarts = String(Number(box.dataset.restarts || 0) + 1);
    if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" });
    const offer = await pc.createOffer({ iceRestart });
    await pc.setLocalDescription(offer);
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") resolve();
      else pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 3000);
    });
    ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
  };

  const connect = async () => {
    if (pc) {
      // A new connection: the cabin closed the previous one, which a restart cannot revive.
      pc.close();
      for (const key of Object.keys(labels)) delete labels[key];
      for (const key of Object.keys(received)) delete received[key];
      for (const element of Object.values(elements)) element.srcObject = null;
    }
    pc = new RTCPeerConnection({
      iceServers: servers.map((s) => ({ urls: s.urls, username: s.username || undefined, credential: s.credential || undefined })),
      iceTransportPolicy: policy,
    });
    // The cabin puts the room, the otoscope and the stethoscope on these, in this order
    // (cabin_agent.media.SENT_TRACKS): shown at once, without waiting for the data channel's
    // "tracks" message, which only confirms it (the data channel is the slowest to come up).
    const expected = new Map([
      [pc.addTransceiver("video", { direction: "recvonly" }), "room"],
      [pc.addTransceiver("video", { direction: "recvonly" }), "otoscope"],
      [pc.addTransceiver("audio", { direction: "recvonly" }), "stethoscope"],
    ]);
    try {
      // The doctor's camera keeps running across a new connection (no new permission prompt,
      // no second wait for the camera to start).
      if (!own || own.getTracks().some((track) => track.readyState === "ended")) {
        own = await navigator.mediaDevices.getUserMedia({ video: true, audio: { echoCancellation: true } });
      }
      for (const track of own.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
      box.querySelector("video.self").srcObject = own;
    } catch {
      link.textContent = "Caméra ou micro du médecin indisponible : le patient ne vous verra pas.";
    }
    const channel = pc.createDataChannel("vitals");
    channel.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "tracks") {
        Object.assign(labels, message.mids);
        Object.keys(received).forEach(show);
      } else if (message.type === "vitals") {
        const values = message.values || {};
        if (typeof values.pleth === "number" && pleth) {
          plethSamples.push(values.pleth);
          if (plethSamples.length > 300) plethSamples.shift();
          drawPleth(pleth, plethSamples);
          pleth.dataset.samples = String(Number(pleth.dataset.samples || 0) + 1);
        }
        if (values.kind) {
          // A no-break space keeps the figure and its unit on one line (« 71 /min »).
          vitals.textContent = `${values.device} — ${values.label || values.kind} : ${values.value}\u00a0${values.unit}`;
        }
      }
    };
    pc.ontrack = (event) => {
      const mid = event.transceiver.mid;
      received[mid] = event.track;
      if (!labels[mid] && expected.has(event.transceiver)) labels[mid] = expected.get(event.transceiver);
      show(mid);
    };
    const current = pc;
    pc.onconnectionstatechange = () => {
      if (current !== pc) return; // a connection the page already replaced
      const state = pc.connectionState;
      if (state === "connected" && stalled) return; // the stall watch says when bytes flow
      box.dataset.state = state;
      if (state === "connected") {
        clearTimeout(retry);
        link.textContent = "Liaison établie.";
      } else if (state === "disconnected" || state === "failed") {
        link.textContent = "Liaison perdue : reconnexion en cours… La consultation continue.";
        // A short "disconnected" often heals by itself; "failed" never does.
        if (state === "failed") { if (!pending) negotiate(true); }
        else later(DISCONNECTED_GRACE_MS);
      }
    };
    await negotiate(false);
  };

  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ice_servers") {
      servers = message.ice_servers;
      policy = message.ice_transport_policy || "all";
      await connect();
    } else if (message.type === "answer") {
      restarting = false;
      pending = false;
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      // An ICE restart on a link that stayed up never changes the connection's state: say so.
      if (pc.connectionState === "connected" && !stalled) {
        box.dataset.state = "connected";
        link.textContent = "Liaison établie.";
      }
      later(RESTART_WAIT_MS); // not connected by then: restart again
    } else if (message.type === "error") {
      pending = false;
      if (message.code === "cabin_offline" && restarting) {
        // The network is still down (or the cabin not back yet): the consultation goes on.
        link.textContent = "Liaison perdue : reconnexion en cours… La consultation continue.";
        later(RETRY_MS);
        return;
      }
      link.textContent = message.message;
      // Refused restart (the cabin's side is gone): start a new connection, once.
      if (restarting) await connect();
    }
  };
  // Chromium may keep an ICE connection "connected" for long after its network went away:
  // the bytes received tell the truth. A stall is a lost link; bytes again, a restored one.
  let lastBytes = -1;
  let lastProgress = Date.now();
  setInterval(async () => {
    if (!pc || pc.connectionState !== "connected") return;
    let bytes = 0;
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === "inbound-rtp") bytes += r.bytesReceived || 0;
      // The path media takes: "host" or "srflx" (direct), "relay" (through the TURN server).
      const pair = r.type === "transport" && stats.get(r.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      if (local) box.dataset.route = local.candidateType;
    });
    if (bytes !== lastBytes) {
      lastBytes = bytes;
      lastProgress = Date.now();
      if (stalled) {
        stalled = false;
        clearTimeout(retry);
        box.dataset.state = pc.connectionState;
        link.textContent = "Liaison établie.";
      }
    } else if (!stalled && Date.now() - lastProgress > STALL_MS) {
      stalled = true;
      box.dataset.state = "stalled";
      link.textContent = "Liaison perdue : reconnexion en cours… La consultation continue.";
      if (!pending) negotiate(true);
    }
  }, 1000);
  ws.onclose = () => {
    if (box.dataset.state !== "closed") link.textContent = "Signalisation interrompue ; rechargez la page si la vidéo ne revient pas.";
  };
  const reconnect = box.querySelector("button.reconnect");
  reconnect.hidden = false;
  reconnect.addEventListener("click", () => {
    if (!pc) return;
    link.textContent = "Reconnexion en cours… La consultation continue.";
    negotiate(true);
  });
  const capture = box.querySelector("button.capture");
  capture.hidden = false;
  capture.addEventListener("click", async () => {
    const video = elements.otoscope;
    const note = box.querySelector('[data-field="capture"]');
    if (!video.videoWidth) { note.textContent = "Pas encore d'image de l'otoscope."; return; }
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const response = await fetch(`/api/v1/consultations/${id}/captures?source=otoscope`, {
      method: "POST", body: blob,
      headers: { "Content-Type": "image/png", "X-CSRF-Token": document.querySelector('input[name="csrf_token"]').value },
    });
    const body = await response.json();
    if (!response.ok) { note.textContent = body.detail; return; }
    note.textContent = "Image enregistrée dans le dossier.";
    const img = document.createElement("img");
    img.src = body.url;
    img.alt = `Image ${body.source}`;
    box.querySelector('[data-field="captures"]').append(img);
  });
  const volume = box.querySelector('input[name="volume"]');
  if (volume) volume.addEventListener("input", () => { elements.stethoscope.volume = Number(volume.value); });
  window.addEventListener("beforeunload", () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "hangup" })));
}

if (root) start(root);
