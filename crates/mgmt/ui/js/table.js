// A table over a paginated API listing: the server filters, sorts and pages (as RabbitMQ's
// `page`, `page_size`, `name`, `use_regex`, `sort`, `sort_reverse`), so 100,000 queues cost
// the browser one page.

import { h, clear, fill, num } from './dom.js';

export class PagedTable {
  /// columns: [{title, sort?: API field, cell: item → node/text, class?}]
  /// load(params) → {items, filtered_count, total_count, page, page_count}
  constructor({ columns, load, pageSize = 50, sort = '', reverse = false, filterLabel = 'Filter by name', onRows }) {
    this.columns = columns;
    this.load = load;
    this.onRows = onRows;
    this.state = { page: 1, pageSize, name: '', regex: false, sort, reverse };
    this.filter = h('input', { type: 'search', placeholder: filterLabel, 'aria-label': filterLabel, class: 'filter' });
    this.regex = h('input', { type: 'checkbox', 'aria-label': 'Regular expression' });
    let timer;
    this.filter.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { this.state.name = this.filter.value; this.state.page = 1; this.refresh(); }, 250);
    });
    this.regex.addEventListener('change', () => { this.state.regex = this.regex.checked; this.state.page = 1; this.refresh(); });
    this.size = h('select', { 'aria-label': 'Rows per page' },
      [20, 50, 100, 500].map((n) => h('option', { value: n, selected: n === pageSize }, `${n} / page`)));
    this.size.addEventListener('change', () => { this.state.pageSize = Number(this.size.value); this.state.page = 1; this.refresh(); });
    this.head = h('thead');
    this.body = h('tbody');
    this.pager = h('div', { class: 'pager' });
    this.count = h('span', { class: 'count' });
    this.el = h('div', { class: 'paged' },
      h('div', { class: 'toolbar' }, this.filter, h('label', { class: 'inline' }, this.regex, ' regex'), this.count, this.size),
      h('div', { class: 'scroll' }, h('table', { class: 'grid' }, this.head, this.body)),
      this.pager);
    this.renderHead();
  }

  renderHead() {
    fill(this.head, h('tr', {}, this.columns.map((c) => {
      if (!c.sort) return h('th', { class: c.class }, c.title);
      const active = this.state.sort === c.sort;
      const arrow = active ? (this.state.reverse ? ' ▼' : ' ▲') : '';
      return h('th', { class: `${c.class || ''} sortable${active ? ' active' : ''}`, 'aria-sort': active ? (this.state.reverse ? 'descending' : 'ascending') : 'none' },
        h('button', {
          class: 'linkish',
          onclick: () => {
            if (this.state.sort === c.sort) this.state.reverse = !this.state.reverse;
            else { this.state.sort = c.sort; this.state.reverse = Boolean(c.descending); }
            this.renderHead();
            this.refresh();
          },
        }, c.title + arrow));
    })));
  }

  async refresh() {
    let res;
    try {
      res = await this.load(this.state);
      this.error = null;
    } catch (e) {
      this.error = e;
      fill(this.body, h('tr', {}, h('td', { colspan: this.columns.length, class: 'error' }, e.message)));
      return;
    }
    if (res.page_count > 0 && this.state.page > res.page_count) {
      this.state.page = res.page_count;
      this.refresh();
      return;
    }
    this.items = res.items;
    clear(this.body);
    if (res.items.length === 0) {
      this.body.append(h('tr', {}, h('td', { colspan: this.columns.length, class: 'empty' }, 'Nothing here.')));
    }
    for (const item of res.items) {
      this.body.append(h('tr', {}, this.columns.map((c) => h('td', { class: c.class }, c.cell(item)))));
    }
    this.count.textContent = res.filtered_count === res.total_count
      ? `${num(res.total_count)} in all`
      : `${num(res.filtered_count)} of ${num(res.total_count)}`;
    this.renderPager(res);
    if (this.onRows) this.onRows(res.items, this.body);
  }

  renderPager(res) {
    const go = (p) => () => { this.state.page = p; this.refresh(); };
    const last = Math.max(1, res.page_count);
    const p = this.state.page;
    fill(this.pager, 
      h('button', { onclick: go(1), disabled: p <= 1, 'aria-label': 'First page' }, '«'),
      h('button', { onclick: go(p - 1), disabled: p <= 1, 'aria-label': 'Previous page' }, '‹'),
      h('span', {}, `page ${num(p)} of ${num(last)}`),
      h('button', { onclick: go(p + 1), disabled: p >= last, 'aria-label': 'Next page' }, '›'),
      h('button', { onclick: go(last), disabled: p >= last, 'aria-label': 'Last page' }, '»'),
    );
  }
}

/// A plain table of items already in hand.
export function simpleTable(columns, items) {
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.title)))),
    h('tbody', {}, items.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'Nothing here.'))
      : items.map((item) => h('tr', {}, columns.map((c) => h('td', { class: c.class }, c.cell(item)))))));
}
