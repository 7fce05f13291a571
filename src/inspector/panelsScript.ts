/**
 * The script of the inspector's extra panels (`/panels.js`): it polls `/panels` and draws each
 * panel it knows into the side column, apart from the page's own script so that the two change
 * independently. Today one panel: a queue node's BullMQ counts. Plain browser JavaScript.
 */
export const PANELS_JS = `'use strict';
(() => {
  const STATES = ['waiting', 'delayed', 'active', 'completed', 'failed'];
  let box;
  function queuePanel(data) {
    if (!box) {
      box = document.createElement('div');
      box.className = 'panel';
      box.id = 'queue-panel';
      const side = document.querySelector('.side') || document.body;
      side.prepend(box);
    }
    const title = document.createElement('h2');
    title.append('BullMQ queue ');
    const small = document.createElement('small');
    small.textContent = data.queue + ' · node ' + data.node;
    title.append(small);
    const table = document.createElement('table');
    table.id = 'queue-counts';
    const head = table.createTHead().insertRow();
    const row = table.createTBody().insertRow();
    for (const state of STATES) {
      const th = document.createElement('th');
      th.className = 'num';
      th.textContent = state;
      head.append(th);
      const td = row.insertCell();
      td.className = 'num';
      td.dataset.state = state;
      td.textContent = data.counts ? String(data.counts[state]) : '–';
    }
    box.replaceChildren(title, table);
    if (data.error) {
      const p = document.createElement('p');
      p.textContent = 'cannot read the queue: ' + data.error;
      box.append(p);
    }
  }
  async function poll() {
    try {
      const response = await fetch('/panels', { cache: 'no-store' });
      if (response.ok) {
        const panels = await response.json();
        if (panels.queue) queuePanel(panels.queue);
      }
    } catch {
      // the host is gone or restarting: the next poll tries again
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
`;
