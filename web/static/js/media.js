// The doctor's side of the live media: a WebRTC peer connection with the cabin (peer to peer;
// the hub only relays the offer and the answer). Room camera and otoscope side by side,
// stethoscope with its own volume, the doctor's camera and microphone sent to the room, live
// vitals on the "vitals" data channel. When the network drops, the link is restarted (ICE
// restart) without ending the consultation.
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
  let own = null;
  let restarting = false; // an ICE-restart offer is waiting for the cabin's answer

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
      if (own) own.getTracks().forEach((track) => track.stop());
    }
    pc = new RTCPeerConnection({
      iceServers: servers.map((s) => ({ urls: s.urls, username: s.username || undefined, credential: s.credential || undefined })),
    });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    try {
      own = await navigator.mediaDevices.getUserMedia({ video: true, audio: { echoCancellation: true } });
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
          vitals.textContent = `${values.device} — ${values.label || values.kind} : ${values.value} ${values.unit}`;
        }
      }
    };
    pc.ontrack = (event) => {
      received[event.transceiver.mid] = event.track;
      show(event.transceiver.mid);
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      box.dataset.state = state;
      if (state === "connected") link.textContent = "Liaison établie.";
      else if (state === "disconnected" || state === "failed") {
        link.textContent = "Liaison perdue : reconnexion en cours… La consultation continue.";
        negotiate(true);
      }
    };
    await negotiate(false);
  };

  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ice_servers") {
      servers = message.ice_servers;
      await connect();
    } else if (message.type === "answer") {
      restarting = false;
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "error") {
      link.textContent = message.message;
      // Refused restart (the cabin's side is gone): start a new connection, once.
      if (restarting) await connect();
    }
  };
  ws.onclose = () => {
    if (box.dataset.state !== "closed") link.textContent = "Signalisation interrompue ; rechargez la page si la vidéo ne revient pas.";
  };
  const reconnect = box.querySelector("button.reconnect");
  reconnect.hidden = false;
  reconnect.addEventListener("click", () => {
    if (!pc) return;
    link.textContent = "Reconnexion en cours… La consultation continue.";
    box.dataset.restarts = String(Number(box.dataset.restarts || 0) + 1);
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
