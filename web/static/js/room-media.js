// The room's screen: the doctor's camera and microphone, received from the cabin over
// WebRTC (the cabin relays what the doctor sends; the hub only relays the signalling).
const box = document.querySelector("[data-room-media]");

async function start() {
  const id = box.dataset.consultation;
  const video = box.querySelector("video.doctor");
  const audio = box.querySelector("audio.doctor");
  const link = box.querySelector('[data-field="link"]');
  const proto = window.location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${window.location.host}/ws/consultations/${id}/room`);
  let pc = null;
  let frames = 0;
  const count = () => {
    frames += 1;
    video.dataset.frames = String(frames);
    video.requestVideoFrameCallback(count);
  };
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
        if (pc.connectionState === "connected") link.textContent = "Le médecin est à l'écran.";
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

if (box) start();
