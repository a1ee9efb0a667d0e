"""A real browser through the twin's load balancer: headless Chromium creates a user
with the HTML form over HTTPS and sees which instance served the page.

Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`;
scripts/ensure-chromium installs them). Missing, the test fails, unless
THREETIER_SKIP_BROWSER=1 says to skip it on purpose.
"""

from __future__ import annotations

import uuid

import pytest
from support.chromium import chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


def test_create_a_user_with_the_form_through_the_load_balancer(running_twin, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    user_id = "b" + uuid.uuid4().hex[:9]
    browser.get(f"{running_twin.url}/users/")
    assert "Users" in browser.title
    browser.find_element(By.LINK_TEXT, "New user").click()
    # The form may come from one instance and its POST go to the other: the CSRF token
    # must hold across instances (one secret key), as behind the ALB.
    # The page also holds the language switcher's form: take the one with the user's fields.
    field = WebDriverWait(browser, 15).until(expected_conditions.presence_of_element_located((By.NAME, "user_id")))
    form = field.find_element(By.XPATH, "./ancestor::form")
    for name, value in {"user_id": user_id, "user_name": "Chromium",
                        "password": "browser-pass-123", "comment": "from chromium"}.items():
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda driver: user_id in driver.page_source)
    page = browser.page_source
    assert "Chromium" in page
    assert "browser-pass-123" not in page
    assert any(name in page for name in running_twin.instance_names()), "the page does not name its instance"
    assert browser.current_url.startswith(running_twin.url)
