/* harmmap: small DOM helpers shared by the map and plans screens (map.js, plans.js).
 * Text always goes in through textContent, never as HTML.
 */
(function () {
  "use strict";
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function fmt(x, digits) {
    if (x === null || x === undefined) return "–";
    return Number(x).toLocaleString("en-GB", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  window.harmmapDom = Object.freeze({ el: el, fmt: fmt });
})();
