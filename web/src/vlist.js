// A windowed list: a channel with 10,000 posts keeps only the posts near the screen in the DOM.
//
// Items have different heights, so each height is estimated until the item has been rendered once and then
// measured (remembered by item id). Offsets are prefix sums of the heights; the window's scroll position is
// found by binary search; rendered items are absolutely positioned inside a spacer as tall as the whole list.

const OVERSCAN = 600; // pixels rendered above and below the screen

export class VirtualList {
  constructor(container, renderItem, estimate = 150) {
    this.container = container;
    this.renderItem = renderItem;
    this.estimate = estimate;
    this.items = [];
    this.heights = new Map(); // id -> measured height
    this.offsets = [0];
    this.nodes = new Map(); // id -> rendered element
    this.spacer = document.createElement('div');
    this.spacer.className = 'vlist';
    container.appendChild(this.spacer);
    this.frame = 0;
    this.onScroll = () => this.schedule();
    window.addEventListener('scroll', this.onScroll, { passive: true });
    window.addEventListener('resize', this.onScroll, { passive: true });
    // An item that grew or shrank after it was measured ("Read more", a history opened): measure again.
    const remeasure = () => this.remeasure();
    this.spacer.addEventListener('resize-item', remeasure);
    this.spacer.addEventListener('toggle', remeasure, true);
  }

  remeasure() {
    for (const [id, node] of this.nodes) if (node.offsetHeight) this.heights.set(id, node.offsetHeight);
    this.layout();
    this.render();
  }

  destroy() {
    window.removeEventListener('scroll', this.onScroll);
    window.removeEventListener('resize', this.onScroll);
    cancelAnimationFrame(this.frame);
  }

  setItems(items) {
    this.items = items;
    for (const node of this.nodes.values()) node.remove();
    this.nodes.clear(); // items may have changed (a correction arrived): render them anew
    this.layout();
    this.render();
  }

  layout() {
    const n = this.items.length;
    const offsets = new Array(n + 1);
    offsets[0] = 0;
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + (this.heights.get(this.items[i].id) ?? this.estimate);
    this.offsets = offsets;
    this.spacer.style.height = `${offsets[n]}px`;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  indexAt(y) {
    let lo = 0, hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  render() {
    const top = this.spacer.getBoundingClientRect().top;
    const from = Math.max(0, -top - OVERSCAN);
    const to = -top + window.innerHeight + OVERSCAN;
    const first = this.indexAt(from);
    let last = first;
    while (last < this.items.length && this.offsets[last] < to) last++;
    const wanted = new Set();
    const fresh = [];
    for (let i = first; i < last; i++) {
      const item = this.items[i];
      wanted.add(item.id);
      let node = this.nodes.get(item.id);
      if (!node) {
        node = this.renderItem(item);
        node.classList.add('vitem');
        this.nodes.set(item.id, node);
        this.spacer.appendChild(node);
        fresh.push(item.id);
      }
      node.style.transform = `translateY(${this.offsets[i]}px)`;
    }
    for (const [id, node] of this.nodes) {
      if (!wanted.has(id)) {
        node.remove();
        this.nodes.delete(id);
      }
    }
    let changed = false;
    for (const id of fresh) {
      const height = this.nodes.get(id).offsetHeight;
      if (height && height !== this.heights.get(id)) {
        this.heights.set(id, height);
        changed = true;
      }
    }
    if (changed) {
      this.layout();
      for (let i = first; i < last; i++) {
        const node = this.nodes.get(this.items[i].id);
        if (node) node.style.transform = `translateY(${this.offsets[i]}px)`;
      }
    }
  }
}
