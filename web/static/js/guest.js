// The invited third party's page: their name, a camera and microphone check (a preview), then
// the consultation's room through Janus — their camera and microphone published, every feed of
// the room (the cabin's room camera, otoscope and stethoscope, the doctor, other guests)
// received. The hub gives the Janus grant; the page says when the consultation is over for
// them (ended, or the doctor removed them).
import { JanusSession, publish, subscribe } from "/static/js/janus.js";

const STATUS_EVERY_MS = 2000;
const root = document.querySelector("[data-guest-page]");
const base = `/invitation/${root.dataset.token}`;
const csrf = root.querySelector('input[name="csrf_token"]').value;
const say = (field, message) => { root.querySelector(`[data-field="${field}"]`).textContent = message; };
const FEED_LABELS = { room: "Caméra de la salle", otoscope: "Otoscope", stethoscope: "Stéthoscope" };

let own = null;
let session = null;
let statusTimer = null;
const feeds = new Map(); // feed id → { figure(s), pc }

async function check() {
  say("check", "Autorisez la caméra et le micro si votre navigateur le demande…");
  try {
    own = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (e) {
    say("check", "Impossible d'utiliser la caméra ou le micro : autorisez-les pour ce site dans votre navigateur, puis réessayez.");
    return;
  }
  root.querySelector("video.preview").srcObject = own;
  meter(own);
  say("check", "Votre caméra et votre micro fonctionnent : vous pouvez rejoindre la consultation.");
  root.querySelector('[data-action="join"]').disabled = false;
}

function meter(stream) {
  const [track] = stream.getAudioTracks();
  if (!track) return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const bar = root.querySelector("meter.mic");
  const tick = () => {
    analyser.getFloatTimeDomainData(samples);
    bar.value = Math.min(1, Math.sqrt(samples.reduce((s, v) => s + v * v, 0) / samples.length) * 4);
    requestAnimationFrame(tick);
  };
  tick();
}

function countFrames(video, label) {
  const count = () => {
    const frames = Number(video.dataset.frames || 0) + 1;
    video.dataset.frames = String(frames);
    label.textContent = `${frames} images`;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
}

function show(feed, display, track, description) {
  const box = root.querySelector('[data-field="feeds"]');
  const entry = feeds.get(feed);
  if (track.kind === "audio") {
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.srcObject = new MediaStream([track]);
    audio.dataset.feed = feed;
    box.append(audio);
    entry.elements.push(audio);
    return;
  }
  const figure = document.createElement("figure");
  figure.dataset.feed = feed;
  figure.dataset.description = description;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  video.srcObject = new MediaStream([track]);
  const caption = document.createElement("figcaption");
  const counter = document.createElement("span");
  counter.textContent = "0 images";
  caption.append(`${FEED_LABELS[description] || display} · `, counter);
  figure.append(video, caption);
  box.append(figure);
  entry.elements.push(figure);
  countFrames(video, counter);
}

async function receive(publisher) {
  if (feeds.has(publisher.id)) return;
  feeds.set(publisher.id, { elements: [], pc: null });
  try {
    const { pc } = await subscribe(session, publisher.id, (track, description) => show(publisher.id, publisher.display, track, description));
    feeds.get(publisher.id).pc = pc;
  } catch (e) {
    feeds.delete(publisher.id);
  }
}

function drop(feed) {
  const entry = feeds.get(feed);
  if (!entry) return;
  entry.pc?.close();
  for (const element of entry.elements) element.remove();
  feeds.delete(feed);
}

async function join() {
  const name = root.querySelector("#guest-name").value.trim();
  if (!name) {
    say("check", "Indiquez votre nom avant de rejoindre.");
    return;
  }
  root.querySelector('[data-action="join"]').disabled = true;
  const response = await fetch(`${base}/rejoindre`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ name }),
  });
  const body = await response.json();
  if (!response.ok) {
    if (response.status === 410) return ended(body.detail);
    say("check", body.detail || "La consultation n'a pas pu être rejointe.");
    root.querySelector('[data-action="join"]').disabled = false;
    return;
  }
  root.querySelector('[data-step="check"]').hidden = true;
  root.querySelector('[data-step="room"]').hidden = false;
  session = new JanusSession(body.grant);
  session.onended = () => status();
  try {
    await session.create();
    const { handle, publishers } = await publish(session, own, { display: body.name, feed: body.feed });
    handle.onevent = (event, data) => {
      for (const p of data.publishers || []) receive(p);
      if (data.unpublished) drop(data.unpublished);
      if (data.leaving) drop(data.leaving);
    };
    say("link", "Vous êtes dans la consultation.");
    for (const p of publishers) receive(p);
  } catch (e) {
    say("link", "La connexion au serveur de visio a échoué : rechargez la page pour réessayer.");
  }
}

function hangUp() {
  clearInterval(statusTimer);
  for (const feed of [...feeds.keys()]) drop(feed);
  session?.destroy();
  own?.getTracks().forEach((t) => t.stop());
}

function ended(message) {
  hangUp();
  root.querySelector('[data-step="check"]').hidden = true;
  root.querySelector('[data-step="room"]').hidden = true;
  const notice = root.querySelector('[data-field="ended"]');
  notice.textContent = message || "La consultation est terminée pour vous. Merci.";
  notice.hidden = false;
}

async function status() {
  try {
    const response = await fetch(`${base}/etat`, { headers: { Accept: "application/json" } });
    if (response.status === 410 || response.status === 404) ended((await response.json()).detail);
    else if (response.ok && (await response.json()).status === "left") {
      ended("La liaison avec la consultation a été perdue. Pour y revenir, rouvrez le lien dans ce navigateur.");
    }
  } catch (e) {
    // the hub is unreachable for a moment: ask again at the next tick
  }
}

async function leave() {
  await fetch(`${base}/quitter`, { method: "POST", headers: { "X-CSRF-Token": csrf } }).catch(() => {});
  ended("Vous avez quitté la consultation. Pour y revenir, rouvrez le lien dans ce navigateur.");
}

root.querySelector('[data-action="check"]').addEventListener("click", check);
root.querySelector('[data-action="join"]').addEventListener("click", join);
root.querySelector('[data-action="leave"]').addEventListener("click", leave);
window.addEventListener("pagehide", () => {
  if (session && !session.over) fetch(`${base}/quitter`, { method: "POST", headers: { "X-CSRF-Token": csrf }, keepalive: true });
});
statusTimer = setInterval(status, STATUS_EVERY_MS);
