// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("keydown", (event) => {
  // "/" focuses the first search field of the page, as in most search-heavy tools.
  if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const search = document.querySelector("input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  }
});
