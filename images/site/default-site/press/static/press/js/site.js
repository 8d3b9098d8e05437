document.documentElement.dataset.release = document.querySelector(".release")?.textContent ?? "";
