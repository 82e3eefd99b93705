// The room's screen: the doctor's camera and microphone, received from the cabin over
// WebRTC (the cabin relays what the doctor sends; the hub only relays the signalling).
// The connection to the cabin stays up while the doctor leaves and joins again: the picture
// comes back by itself; while no picture comes, the page says the doctor is not there and
// dims the last picture. Opened while the patient waits, it connects when the doctor joins.
import { on } from "./events.js";

const box = document.querySelector("[data-room-media]");
const WAITING = "En attente du médecin : son image s'affichera dès qu'il sera connecté.";
const STILL_MS = 2000; // no new picture for this long: the doctor is not (or no longer) there

async function start() {
  const id = box.dataset.consultation;
  const video = box.querySelector("video.doctor");
  const audio = box.querySelector("audio.doctor");
  const link = box.querySelector('[data-field="link"]');
  const proto = window.location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${window.location.host}/ws/consultations/${id}/room`);
  let pc = null;
  let frames = 0;
  let lastFrame = 0;
  let showing = false;
  const show = (on) => {
    showing = on;
    video.classList.toggle("waiting", !on);
    link.textContent = on ? "Le médecin est à l'écran." : WAITING;
  };
  const count = () => {
    frames += 1;
    lastFrame = performance.now();
    video.dataset.frames = String(frames);
    if (!showing) show(true);
    video.requestVideoFrameCallback(count);
  };
  setInterval(() => {
    if (showing && performance.now() - lastFrame > STILL_MS) show(false);
  }, 500);
  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ice_servers") {
      pc = new RTCPeerConnection({
        iceServers: message.ice_servers.map((s) => ({ urls: s.urls, username: s.username || undefined, credential: s.credential || undefined })),
      });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.ontrack = (e) => {
        const target = e.track.kind === "video" ? video : audio;
        target.srcObject = new MediaStream([e.track]);
        target.play().catch(() => {});
        if (e.track.kind === "video") video.requestVideoFrameCallback(count);
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected" && !showing) show(false);
        else if (pc.connectionState === "failed") link.textContent = "Image du médecin perdue : rechargez la page.";
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") resolve();
        else pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
        setTimeout(resolve, 3000);
      });
      ws.send(JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }));
    } else if (message.type === "answer") {
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "error") {
      link.textContent = message.message;
    }
  };
}

if (box && box.hasAttribute("data-started")) start();
else if (box) {
  let started = false;
  on("consultation.in_consultation", (data) => {
    if (!started && String(data.consultation_id) === box.dataset.consultation) {
      started = true;
      start();
    }
  });
}
