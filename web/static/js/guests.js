// The doctor's « Tiers » panel, live: who is invited, who is in the room, who left — from the
// page's event stream ("consultation.guests"), with « Retirer » for those still taking part.
// Once a guest is in, the page joins the consultation's Janus room and receives the guests'
// feeds; the doctor's page (data-publish) also publishes the doctor's camera and microphone (the
// guests see and hear the doctor), the room's screen only shows and plays the guests. The
// cabin's feed stays on the peer-to-peer link of media.js.
import { on } from "/static/js/events.js";
import { JanusSession, enter, publish, subscribe } from "/static/js/janus.js";

const panel = document.querySelector("[data-guests]");
const LABELS = {
  invited: "invité, lien envoyé",
  opened: "a ouvert le lien",
  joined: "présent",
  left: "parti",
  removed: "retiré",
  ended: "terminé",
};
const TAKING_PART = new Set(["invited", "opened", "joined", "left"]);

function item(guest, csrf, id) {
  const li = document.createElement("li");
  li.dataset.guest = guest.id;
  li.dataset.status = guest.status;
  const name = document.createElement("strong");
  name.textContent = guest.name;
  const status = document.createElement("span");
  status.dataset.field = "guest-status";
  status.textContent = LABELS[guest.status] || guest.status;
  li.append(name, ` (${guest.role}) — `, status);
  if (panel.dataset.removes !== undefined && TAKING_PART.has(guest.status)) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/medecin/consultations/${id}/tiers/${guest.id}/retirer`;
    form.className = "inline";
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrf;
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Retirer";
    button.setAttribute("aria-label", `Retirer ${guest.name}`);
    form.append(token, button);
    li.append(" ", form);
  }
  return li;
}

// The room through Janus, while guests take part.
function room() {
  const box = panel.querySelector('[data-field="guest-feeds"]');
  const say = (text) => { panel.querySelector('[data-field="guest-link"]').textContent = text; };
  let session = null;
  let own = null;
  let joining = null;
  const feeds = new Map(); // feed id → { pc, elements }

  function show(feed, display, track) {
    const entry = feeds.get(feed);
    if (track.kind === "audio") {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.srcObject = new MediaStream([track]);
      box.append(audio);
      entry.elements.push(audio);
      return;
    }
    const figure = document.createElement("figure");
    figure.dataset.feed = feed;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    const caption = document.createElement("figcaption");
    const counter = document.createElement("span");
    counter.textContent = "0 images";
    caption.append(`${display} · `, counter);
    figure.append(video, caption);
    box.append(figure);
    entry.elements.push(figure);
    const count = () => {
      const frames = Number(video.dataset.frames || 0) + 1;
      video.dataset.frames = String(frames);
      counter.textContent = `${frames} images`;
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
  }

  async function receive(publisher, base) {
    if (publisher.id < base || feeds.has(publisher.id)) return; // the cabin: peer to peer
    feeds.set(publisher.id, { pc: null, elements: [] });
    try {
      const { pc } = await subscribe(session, publisher.id, (track) => show(publisher.id, publisher.display, track));
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
    const response = await fetch(panel.dataset.grant, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { grant, guest_feed_base: base } = await response.json();
    session = new JanusSession(grant);
    session.onended = () => leave();
    try {
      await session.create();
      let entered;
      if (panel.dataset.publish !== undefined) {
        own = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
        entered = await publish(session, own, { display: "Médecin" });
        say("Les tiers présents vous voient et vous entendent.");
      } else {
        entered = await enter(session, { display: "Salle" });
      }
      const { handle, publishers } = entered;
      handle.onevent = (event, data) => {
        for (const p of data.publishers || []) receive(p, base);
        if (data.unpublished) drop(data.unpublished);
        if (data.leaving) drop(data.leaving);
      };
      for (const p of publishers) receive(p, base);
    } catch (e) {
      say("La visio avec les tiers n'a pas pu s'établir : rechargez la page.");
      leave();
    }
  }

  function leave() {
    for (const feed of [...feeds.keys()]) drop(feed);
    session?.destroy();
    own?.getTracks().forEach((t) => t.stop());
    session = null;
    own = null;
    joining = null;
  }

  return {
    follow(present) {
      if (present && !joining) joining = join();
      if (!present && joining) leave();
    },
  };
}

if (panel) {
  const id = Number(panel.dataset.consultation);
  const csrf = document.querySelector('input[name="csrf_token"]').value;
  const sfu = panel.querySelector('[data-field="guest-feeds"]') ? room() : null;
  const present = (statuses) => statuses.some((s) => s === "joined");
  sfu?.follow(present([...panel.querySelectorAll("li[data-status]")].map((li) => li.dataset.status)));
  on("consultation.guests", (event) => {
    if (event.consultation_id !== id) return;
    const list = panel.querySelector('[data-field="guests"]');
    list.replaceChildren(...event.guests.map((g) => item(g, csrf, id)));
    if (panel.dataset.removes === undefined) panel.hidden = !present(event.guests.map((g) => g.status));
    sfu?.follow(present(event.guests.map((g) => g.status)));
  });
}
