// A channel's schedule as a week calendar (FullCalendar's time grid): the occurrences
// the server computes (GET /channels/{id}/occurrences: recurrence, exceptions, daylight
// saving and conflicts resolved there, so the calendar shows what will play), in a zone
// of the user's choice. Writers drag an occurrence to move its entry, resize it to change
// the duration, select a range to add an entry, click (or Enter) to edit one; each write
// carries If-Match with the channel's revision, and a 412 reloads and says so. Undo sends
// the inverse change of the last moves, resizes, additions and deletions.
//
// Moving an occurrence of a repeating entry moves the whole series by the same wall-time
// shift in the channel's zone (its exceptions move with it).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, get } from '../api.js';
import { browserZone, loadCalendar } from '../calendar.js';
import { html } from '../html.js';
import { describeRule, shiftWallTime, wallTimeDifference } from '../recurrence.js';
import { ErrorMessage, Loading, problemText, toast } from '../ui.js';
import { EntryDialog } from './channel-entry.js';
import { ZoneSelect } from './channels.js';

const UNDO_DEPTH = 20;
const COLOURS = 8; // playlists get one of .ch-c0 … .ch-c7

function colourOf(playlistId) {
  let hash = 0;
  for (const char of playlistId || '') hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `ch-c${hash % COLOURS}`;
}

// Wall time in `zone` of an instant ('2026-12-07T14:00:00'), as entries keep times.
export function wallTime(luxon, instant, zone) {
  const when =
    typeof instant === 'string'
      ? luxon.DateTime.fromISO(instant, { setZone: true })
      : luxon.DateTime.fromJSDate(instant);
  return when.setZone(zone).toFormat("yyyy-LL-dd'T'HH:mm:ss");
}

function formatRange(luxon, occurrence, zone) {
  const start = luxon.DateTime.fromISO(occurrence.start, { setZone: true }).setZone(zone);
  const end = luxon.DateTime.fromISO(occurrence.end, { setZone: true }).setZone(zone);
  return `${start.toFormat('ccc d LLL HH:mm')}–${end.toFormat('HH:mm')}`;
}

// The request of an entry change that conflicts ends in a reload and a message.
class Stale extends Error {}

// A PATCH body for the API: there `rrule: null` means "unchanged", `clear_rrule` removes it.
export function patchBody(body) {
  if (!('rrule' in body) || body.rrule) return body;
  const { rrule: _rrule, ...rest } = body;
  return { ...rest, clear_rrule: true };
}

export function ScheduleEditor({ channel, playlists, writer, onChannel }) {
  const element = useRef(null);
  const calendarRef = useRef(null);
  const [libs, setLibs] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [zone, setZone] = useState(channel.timezone);
  const [entries, setEntries] = useState([]);
  const [occurrences, setOccurrences] = useState([]);
  const [dialog, setDialog] = useState(null); // {entry, isNew, occurrence}
  const [undo, setUndo] = useState([]);
  const [status, setStatus] = useState('');
  // The latest of everything the calendar's callbacks read (they are set up once).
  const latest = useRef({});
  latest.current = { channel, entries, playlists, writer, zone, onChannel };
  const names = Object.fromEntries(playlists.map((p) => [p.id, p.name]));
  const namesRef = useRef(names);
  namesRef.current = names;

  useEffect(() => {
    loadCalendar().then(setLibs, setLoadError);
  }, []);

  const loadEntries = useCallback(async () => {
    const answer = await get(`/channels/${channel.id}/entries`);
    const list = Array.isArray(answer) ? answer : answer.items || [];
    setEntries(list);
    return list;
  }, [channel.id]);

  useEffect(() => {
    loadEntries().catch((err) => toast(`Could not load the schedule: ${problemText(err)}`, 'error'));
  }, [loadEntries]);

  // Everything again after a change elsewhere (or a 412).
  const reload = useCallback(async () => {
    const [fresh] = await Promise.all([get(`/channels/${channel.id}`), loadEntries()]);
    latest.current.onChannel(fresh);
    calendarRef.current?.refetchEvents();
  }, [channel.id, loadEntries]);

  // A write with If-Match; the channel's new revision from the answer's ETag.
  const write = useCallback(
    async (method, path, body) => {
      const revision = latest.current.channel.revision;
      let response;
      try {
        response = await api(method, `/channels/${channel.id}${path}`, {
          body,
          headers: { 'If-Match': `"${revision}"` },
          raw: true,
        });
      } catch (err) {
        if (err.status === 412) {
          await reload().catch(() => {});
          toast('The schedule was changed elsewhere meanwhile: it has been reloaded. Try the change again.', 'error');
          throw new Stale(err.message);
        }
        throw err;
      }
      const tag = /"(\d+)"/.exec(response.headers.get('ETag') || '');
      const result = response.status === 204 ? null : await response.json();
      if (tag) latest.current.onChannel({ ...latest.current.channel, revision: Number(tag[1]) });
      else latest.current.onChannel(await get(`/channels/${channel.id}`));
      await loadEntries();
      calendarRef.current?.refetchEvents();
      return result;
    },
    [channel.id, loadEntries, reload],
  );

  const pushUndo = (label, inverse) => setUndo((stack) => [...stack.slice(-(UNDO_DEPTH - 1)), { label, inverse }]);

  // Changes that can be undone: a PATCH (inverse: the old values), a POST (inverse: delete
  // the new entry), a DELETE (inverse: add it again, under a new id).
  const change = useCallback(
    async (label, kind, entry, body) => {
      if (kind === 'patch') {
        const before = Object.fromEntries(Object.keys(body).map((key) => [key, entry[key]]));
        await write('PATCH', `/entries/${entry.id}`, patchBody(body));
        pushUndo(label, () => write('PATCH', `/entries/${entry.id}`, patchBody(before)));
      } else if (kind === 'create') {
        const created = await write('POST', '/entries', body);
        if (created?.id) pushUndo(label, () => write('DELETE', `/entries/${created.id}`));
      } else if (kind === 'delete') {
        await write('DELETE', `/entries/${entry.id}`);
        const { id: _id, ...again } = entry;
        pushUndo(label, () => write('POST', '/entries', again));
      }
      setStatus(`${label}: saved.`);
    },
    [write],
  );

  const undoLast = async () => {
    const last = undo[undo.length - 1];
    if (!last) return;
    try {
      await last.inverse();
      setUndo((stack) => stack.slice(0, -1));
      setStatus(`Undone: ${last.label}.`);
      toast(`Undone: ${last.label}.`, 'success');
    } catch (err) {
      if (!(err instanceof Stale)) toast(`Could not undo: ${problemText(err)}`, 'error');
      setUndo([]); // the inverse of an older change may no longer make sense
    }
  };

  // The calendar, made once the scripts are there; its options follow state below.
  useEffect(() => {
    if (!libs || !element.current) return undefined;
    const { FullCalendar, luxon } = libs;
    const entryOf = (event) => latest.current.entries.find((e) => e.id === event.extendedProps.entryId);
    const calendar = new FullCalendar.Calendar(element.current, {
      // A phone's width fits one day's column legibly, not seven.
      initialView: window.matchMedia('(max-width: 700px)').matches ? 'timeGridDay' : 'timeGridWeek',
      timeZone: latest.current.zone,
      firstDay: 1,
      allDaySlot: false,
      nowIndicator: true,
      slotDuration: '00:30:00',
      snapDuration: '00:15:00',
      height: 'auto', // the whole day, no inner scroller: the page scrolls

      eventTimeFormat: { hour: '2-digit', minute: '2-digit', hour12: false },
      slotLabelFormat: { hour: '2-digit', minute: '2-digit', hour12: false },
      headerToolbar: { left: 'prev,next today', center: 'title', right: 'timeGridWeek,timeGridDay' },
      // Text, not FullCalendar's icon font: that is a data: URL the admin's CSP refuses,
      // and its spans have role="img" without a name.
      buttonIcons: false,
      buttonText: { prev: '‹', next: '›', today: 'Today', week: 'Week', day: 'Day' },
      buttonHints: { prev: 'Previous $0', next: 'Next $0', today: 'This $0' },
      eventInteractive: true, // focusable occurrences; Enter opens them
      editable: latest.current.writer,
      selectable: latest.current.writer,
      selectMirror: true,
      eventOverlap: true,
      events: async (info, success, failure) => {
        try {
          const answer = await get(`/channels/${channel.id}/occurrences`, {
            query: { from: info.start.toISOString(), to: info.end.toISOString(), tz: latest.current.zone },
          });
          const list = Array.isArray(answer) ? answer : answer.items || [];
          setOccurrences(list);
          success(
            list.map((o) => {
              const playlistId = o.playlist_id || latest.current.entries.find((e) => e.id === o.entry_id)?.playlist_id;
              const title = namesRef.current[playlistId] || playlistId || 'Entry';
              return {
                id: `${o.entry_id}@${o.start}`,
                title,
                start: o.start,
                end: o.end,
                classNames: [colourOf(playlistId), ...(o.wins ? [] : ['ch-lost'])],
                extendedProps: { entryId: o.entry_id, occurrence: o },
              };
            }),
          );
        } catch (err) {
          failure(err);
          toast(`Could not load the occurrences: ${problemText(err)}`, 'error');
        }
      },
      eventDidMount: (info) => {
        const o = info.event.extendedProps.occurrence;
        if (!o) return; // the mirror of a range being selected
        const entry = entryOf(info.event);
        const rule = describeRule(entry?.rrule);
        const when = formatRange(luxon, o, latest.current.zone);
        const state = o.wins ? 'plays' : `does not play: ${o.reason || 'conflict'}`;
        const text = `${info.event.title}, ${when}, ${rule}, priority ${o.priority}: ${state}`;
        info.el.title = text;
        info.el.setAttribute('aria-label', text);
        info.el.dataset.entryId = o.entry_id;
      },
      eventClick: (info) => {
        info.jsEvent.preventDefault();
        const entry = entryOf(info.event);
        if (!entry) return;
        const o = info.event.extendedProps.occurrence;
        setDialog({
          entry,
          isNew: false,
          occurrence: { ...o, wall: wallTime(luxon, o.start, latest.current.channel.timezone) },
        });
      },
      select: (info) => {
        const tz = latest.current.channel.timezone;
        const start = wallTime(luxon, info.startStr, tz);
        const seconds = Math.round((info.end.getTime() - info.start.getTime()) / 1000);
        setDialog({
          entry: {
            start,
            duration_seconds: seconds,
            playlist_id: '',
            rrule: null,
            exdates: [],
            priority: 0,
            order: 'sequential',
          },
          isNew: true,
        });
        calendar.unselect();
      },
      eventDrop: async (info) => {
        const entry = entryOf(info.event);
        if (!entry) return info.revert();
        // The wall-time shift in the channel's zone (the view's zone may be another).
        const tz = latest.current.channel.timezone;
        const shift = wallTimeDifference(
          wallTime(luxon, info.event.startStr, tz),
          wallTime(luxon, info.oldEvent.startStr, tz),
        );
        const body = {
          start: shiftWallTime(entry.start, shift),
          exdates: (entry.exdates || []).map((date) => shiftWallTime(date, shift)),
        };
        try {
          await change(`Move ${info.event.title}`, 'patch', entry, body);
        } catch (err) {
          info.revert();
          if (!(err instanceof Stale)) toast(`Could not move the entry: ${problemText(err)}`, 'error');
        }
      },
      eventResize: async (info) => {
        const entry = entryOf(info.event);
        if (!entry) return info.revert();
        const seconds = Math.round((info.event.end.getTime() - info.event.start.getTime()) / 1000);
        try {
          await change(`Resize ${info.event.title}`, 'patch', entry, { duration_seconds: seconds });
        } catch (err) {
          info.revert();
          if (!(err instanceof Stale)) toast(`Could not resize the entry: ${problemText(err)}`, 'error');
        }
      },
    });
    calendar.render();
    calendarRef.current = calendar;
    return () => {
      calendar.destroy();
      calendarRef.current = null;
    };
  }, [libs, channel.id, change]);

  // The zone of the view: FullCalendar (with Luxon) draws the grid in it, the occurrences
  // are asked for in it.
  useEffect(() => {
    const calendar = calendarRef.current;
    if (!calendar) return;
    calendar.setOption('timeZone', zone);
    calendar.refetchEvents();
  }, [zone]);
  useEffect(() => {
    const calendar = calendarRef.current;
    if (!calendar) return;
    calendar.setOption('editable', writer);
    calendar.setOption('selectable', writer);
  }, [writer]);
  // Names and colours once the entries are known (the first fetch may come before them).
  useEffect(() => {
    calendarRef.current?.refetchEvents();
  }, [entries.map((e) => `${e.id}:${e.playlist_id}`).join(), playlists.length]);

  const saveDialog = async (body) => {
    if (dialog.isNew) await change(`Add ${namesRef.current[body.playlist_id] || 'entry'}`, 'create', null, body);
    else {
      const changed = Object.fromEntries(
        Object.entries(body).filter(
          ([key, value]) => JSON.stringify(value) !== JSON.stringify(dialog.entry[key] ?? null),
        ),
      );
      if (Object.keys(changed).length)
        await change(`Edit ${namesRef.current[dialog.entry.playlist_id] || 'entry'}`, 'patch', dialog.entry, changed);
    }
    setDialog(null);
  };
  const deleteDialog = async () => {
    await change(`Delete ${namesRef.current[dialog.entry.playlist_id] || 'entry'}`, 'delete', dialog.entry);
    setDialog(null);
  };
  const newEntry = () => {
    const now = new Date();
    const start = libs
      ? `${wallTime(libs.luxon, now, channel.timezone).slice(0, 14)}00:00`
      : now.toISOString().slice(0, 16);
    setDialog({
      entry: {
        start,
        duration_seconds: 3600,
        playlist_id: '',
        rrule: null,
        exdates: [],
        priority: 0,
        order: 'sequential',
      },
      isNew: true,
    });
  };

  if (loadError) return html`<${ErrorMessage} error=${loadError} />`;
  const lost = occurrences.filter((o) => !o.wins);
  const last = undo[undo.length - 1];
  const local = browserZone();
  const zoneChoices = [[channel.timezone, `Channel's zone (${channel.timezone})`]];
  if (local !== channel.timezone) zoneChoices.push([local, `This browser's zone (${local})`]);
  return html`<section class="stack" aria-labelledby="ch-schedule-title">
    <h2 id="ch-schedule-title" class="visually-hidden">Schedule</h2>
    <div class="row ch-toolbar">
      <div class="ch-field">
        <label for="ch-zone">Show times in</label>
        <${ZoneSelect} id="ch-zone" value=${zone} onChange=${setZone} extra=${zoneChoices} />
      </div>
      <span class="spacer"></span>
      ${
        writer &&
        html`<button type="button" class="secondary" disabled=${!last} onClick=${undoLast}
          title=${last ? `Undo: ${last.label}` : 'Nothing to undo'}>${last ? `Undo: ${last.label}` : 'Undo'}</button>`
      }
      ${writer && html`<button type="button" onClick=${newEntry}>New entry</button>`}
    </div>
    <p class="visually-hidden" role="status" aria-live="polite">${status}</p>
    ${!libs && html`<${Loading} label="Loading the calendar…" />`}
    <div class="ch-calendar" ref=${element} data-zone=${zone}></div>
    <p class="muted">Drag an entry to move it, drag its lower edge to change its length, select a range of time to add
      one; click an entry (or focus it and press Enter) to edit its times, repetition and exceptions.
      Hatched entries lose to another one and do not play.</p>
    <section aria-labelledby="ch-conflicts-title">
      <h3 id="ch-conflicts-title">Conflicts in the days shown</h3>
      ${
        lost.length
          ? html`<ul class="ch-conflicts">
          ${lost.map((o) => {
            const entry = entries.find((e) => e.id === o.entry_id);
            const nameOf = (id) => names[entries.find((e) => e.id === id)?.playlist_id] || id;
            // The API's reason names entries by id; the page names them by playlist.
            const reason = (o.conflicts_with || []).reduce(
              (text, id) => text.replaceAll(id, nameOf(id)),
              o.reason || 'loses',
            );
            const when = libs ? formatRange(libs.luxon, o, zone) : o.start;
            // Named after the reason unless the reason names them already.
            const winners = (o.conflicts_with || []).map(nameOf).filter((name) => !reason.includes(name));
            return html`<li key=${`${o.entry_id}@${o.start}`}>
              <strong>${names[entry?.playlist_id] || o.entry_id}</strong>, ${when}: ${reason}
              ${winners.length > 0 && html`<span class="muted">(against ${winners.join(', ')})</span>`}
            </li>`;
          })}
        </ul>`
          : html`<p class="muted">None: every entry shown plays.</p>`
      }
    </section>
    <${EntryDialog}
      open=${!!dialog}
      entry=${dialog?.entry}
      isNew=${dialog?.isNew}
      occurrence=${dialog?.occurrence}
      playlists=${playlists}
      timezone=${channel.timezone}
      writer=${writer}
      onSave=${saveDialog}
      onDelete=${deleteDialog}
      onClose=${() => setDialog(null)}
    />
  </section>`;
}
