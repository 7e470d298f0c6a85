// Repetition rules of schedule entries: the RRULE value (RFC 5545) <-> the few common
// choices the entry form offers (once, daily, weekdays, weekly on some days; every N;
// until a date or a number of times). A rule the form cannot show stays as text
// ('custom') and is sent back unchanged. Pure: no DOM.

export const DAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
export const DAY_NAMES = { MO: 'Mon', TU: 'Tue', WE: 'Wed', TH: 'Thu', FR: 'Fri', SA: 'Sat', SU: 'Sun' };
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR'];

// {repeat: 'none'|'daily'|'weekdays'|'weekly'|'custom', interval, days, end: 'never'|'until'|'count',
//  until: 'YYYY-MM-DD', count, text}
export function parseRule(rrule) {
  const blank = { repeat: 'none', interval: 1, days: [], end: 'never', until: '', count: 10, text: rrule || '' };
  if (!rrule) return blank;
  const parts = {};
  for (const part of rrule.replace(/^RRULE:/i, '').split(';')) {
    const [key, value] = part.split('=');
    if (!key || value === undefined) return { ...blank, repeat: 'custom' };
    parts[key.toUpperCase()] = value.toUpperCase();
  }
  const known = new Set(['FREQ', 'INTERVAL', 'BYDAY', 'UNTIL', 'COUNT', 'WKST']);
  if (Object.keys(parts).some((key) => !known.has(key))) return { ...blank, repeat: 'custom' };
  const days = parts.BYDAY ? parts.BYDAY.split(',') : [];
  if (days.some((day) => !DAYS.includes(day))) return { ...blank, repeat: 'custom' };
  const interval = parts.INTERVAL ? Number.parseInt(parts.INTERVAL, 10) : 1;
  if (!(interval >= 1)) return { ...blank, repeat: 'custom' };
  const rule = { ...blank, interval, days: DAYS.filter((day) => days.includes(day)) };
  if (parts.UNTIL) {
    const found = /^(\d{4})(\d{2})(\d{2})(T\d{6}Z?)?$/.exec(parts.UNTIL);
    if (!found) return { ...blank, repeat: 'custom' };
    rule.end = 'until';
    rule.until = `${found[1]}-${found[2]}-${found[3]}`;
  } else if (parts.COUNT) {
    rule.end = 'count';
    rule.count = Number.parseInt(parts.COUNT, 10);
  }
  if (parts.FREQ === 'DAILY' && !days.length) rule.repeat = 'daily';
  else if (parts.FREQ === 'WEEKLY' && interval === 1 && rule.days.join() === WEEKDAYS.join()) rule.repeat = 'weekdays';
  else if (parts.FREQ === 'WEEKLY') rule.repeat = 'weekly';
  else rule.repeat = 'custom';
  return rule;
}

// The RRULE value for the form's choices, or null for an entry that happens once.
// `startDay` (MO..SU) is the weekly rule's day when none is ticked. UNTIL is a floating
// local time (the entry's start is wall time in the channel's zone, RFC 5545 wants both
// alike), the end of that day so the day's occurrence still counts.
export function buildRule(rule, startDay = 'MO') {
  if (rule.repeat === 'none') return null;
  if (rule.repeat === 'custom') return rule.text.trim().replace(/^RRULE:/i, '') || null;
  const parts = [];
  if (rule.repeat === 'daily') parts.push('FREQ=DAILY');
  else parts.push('FREQ=WEEKLY');
  const interval = Math.max(1, Number.parseInt(rule.interval, 10) || 1);
  if (interval > 1 && rule.repeat !== 'weekdays') parts.push(`INTERVAL=${interval}`);
  if (rule.repeat === 'weekdays') parts.push(`BYDAY=${WEEKDAYS.join(',')}`);
  if (rule.repeat === 'weekly') {
    const days = DAYS.filter((day) => rule.days.includes(day));
    parts.push(`BYDAY=${(days.length ? days : [startDay]).join(',')}`);
  }
  if (rule.end === 'until' && rule.until) parts.push(`UNTIL=${rule.until.replaceAll('-', '')}T235959`);
  if (rule.end === 'count') parts.push(`COUNT=${Math.max(1, Number.parseInt(rule.count, 10) || 1)}`);
  return parts.join(';');
}

// "Every weekday until 2027-01-31" - what the rule says, for lists and titles.
export function describeRule(rrule) {
  if (!rrule) return 'Once';
  const rule = parseRule(rrule);
  let text;
  const every = rule.interval > 1 ? `Every ${rule.interval} ` : 'Every ';
  if (rule.repeat === 'daily') text = rule.interval > 1 ? `${every}days` : 'Every day';
  else if (rule.repeat === 'weekdays') text = 'Every weekday';
  else if (rule.repeat === 'weekly')
    text = `${rule.interval > 1 ? `${every}weeks` : 'Every week'} on ${rule.days.map((d) => DAY_NAMES[d]).join(', ') || 'the same day'}`;
  else return `Custom: ${rrule}`;
  if (rule.end === 'until') text += ` until ${rule.until}`;
  if (rule.end === 'count') text += `, ${rule.count} times`;
  return text;
}

// Wall-time arithmetic on naive ISO strings ('2026-12-07T14:00:00'), as entries keep them:
// read and written as if UTC so no zone's daylight saving moves them.
export function shiftWallTime(iso, milliseconds) {
  const date = new Date(`${iso.slice(0, 19)}Z`);
  return new Date(date.getTime() + milliseconds).toISOString().slice(0, 19);
}

export function wallTimeDifference(later, earlier) {
  return new Date(`${later.slice(0, 19)}Z`).getTime() - new Date(`${earlier.slice(0, 19)}Z`).getTime();
}
