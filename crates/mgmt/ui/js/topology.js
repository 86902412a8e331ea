// An exchange's place in the topology, drawn as SVG: exchanges that route into it on the
// left, the exchange in the middle, what it routes to on the right, each edge with its
// routing key. Long lists are cut at MAX_NODES per side.

const MAX_NODES = 40;
const ROW = 34;
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/// incoming: bindings whose destination is the exchange; outgoing: bindings from it.
/// hrefOf(kind, name) → link for a node.
export function topology(name, incoming, outgoing, hrefOf) {
  const left = incoming.slice(0, MAX_NODES);
  const right = outgoing.slice(0, MAX_NODES);
  const rows = Math.max(1, left.length, right.length);
  const height = rows * ROW + 20;
  const width = 900;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'topology', role: 'img', 'aria-label': `Bindings of ${name || 'the default exchange'}` });
  const cy = height / 2;
  const mid = { x: 370, w: 160 };
  const y = (i, n) => (height - n * ROW) / 2 + i * ROW + ROW / 2;

  const node = (x, yy, w, label, kind, href) => {
    const g = svg('g', { class: `node ${kind}` });
    const a = href ? svg('a', { href }) : g;
    a.append(svg('rect', { x, y: yy - 12, width: w, height: 24, rx: kind === 'queue' ? 2 : 12 }));
    a.append(svg('text', { x: x + w / 2, y: yy + 4, 'text-anchor': 'middle' }, clip(label, 24)));
    if (a !== g) g.append(a);
    root.append(g);
  };
  const edge = (x1, y1, x2, y2, label) => {
    const dx = (x2 - x1) / 2;
    root.append(svg('path', { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, class: 'edge' }));
    if (label) root.append(svg('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle', class: 'key' }, clip(label, 28)));
  };

  left.forEach((b, i) => {
    const yy = y(i, left.length);
    edge(190, yy, mid.x, cy, b.routing_key);
    node(20, yy, 170, b.source || '(default)', 'exchange', hrefOf('exchange', b.source));
  });
  right.forEach((b, i) => {
    const yy = y(i, right.length);
    edge(mid.x + mid.w, cy, 700, yy, b.routing_key);
    node(700, yy, 180, b.destination, b.destination_type, hrefOf(b.destination_type, b.destination));
  });
  node(mid.x, cy, mid.w, name || '(AMQP default)', 'self', null);
  const more = [incoming.length - left.length, outgoing.length - right.length];
  if (more[0] > 0 || more[1] > 0) root.append(svg('text', { x: width / 2, y: height - 4, 'text-anchor': 'middle', class: 'key' }, `(${more[0] + more[1]} more not drawn)`));
  return root;
}

function clip(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
